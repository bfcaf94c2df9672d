let () =
  let keep = ref [] in
  while true do keep := Bytes.make (1 lsl 20) 'x' :: !keep done
