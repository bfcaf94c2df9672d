let x: int = "no"
