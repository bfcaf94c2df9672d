:- initialization(main, main).

main :- format("~w~n", [x]
