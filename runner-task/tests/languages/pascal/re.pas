program Main;
var a, b: integer;
begin
  a := 0;
  b := 1 div a;
  writeln(b);
end.
