program main
  integer, parameter :: n = 131072
  type chunk
    real(8), allocatable :: v(:)
  end type chunk
  type(chunk), allocatable :: keep(:)
  integer :: i
  allocate(keep(100000))
  do i = 1, 100000
    allocate(keep(i)%v(n))
    keep(i)%v = 1.0d0
  end do
  print *, keep(1)%v(1)
end program main
