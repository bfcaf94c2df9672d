defmodule Grow do
  def grow(keep), do: grow([:binary.copy(<<1>>, 1_048_576) | keep])
end

Grow.grow([])
