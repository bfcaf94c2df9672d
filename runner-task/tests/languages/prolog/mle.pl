:- initialization(main, main).

grow(L) :- length(X, 100000), grow([X|L]).
main :- grow([]).
