program main
  x = = 1
end program main
