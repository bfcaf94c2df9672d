int x = "no";
