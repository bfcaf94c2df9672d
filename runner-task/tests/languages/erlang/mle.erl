-module(main).
-export([main/0]).

main() -> grow([]).

grow(Keep) -> grow([binary:copy(<<1>>, 1 bsl 20) | Keep]).
