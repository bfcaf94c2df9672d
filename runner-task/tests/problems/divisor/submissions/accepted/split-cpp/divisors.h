long long smallest(long long n);
