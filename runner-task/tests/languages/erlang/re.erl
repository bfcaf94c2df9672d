-module(main).
-export([main/0]).

main() ->
    erlang:error(boom).
