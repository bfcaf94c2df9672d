print('unclosed'
