class Program { static void Main() { undefined_call(); } }
