IO.puts("unclosed"
