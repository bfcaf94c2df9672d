#include <stdio.h>
int main(void) { printf("500\n"); fflush(stdout); char r[8]; if (scanf("%7s", r) == 1 && r[0] == '=') return 0; return 3; }
