const x: number = "no";
