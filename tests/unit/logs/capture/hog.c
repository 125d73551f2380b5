/* Allocate and dirty memory (non-zero, page-unique) until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 1 << 20;
	for (long i = 0; i < mib; i++) {
		char *p = malloc(1 << 20);
		if (!p)
			return 1;
		for (long off = 0; off < (1 << 20); off += 4096)
			snprintf(p + off, 64, "swaplab %ld %ld", i, off);
	}
	printf("hog: %ld MiB dirtied\n", mib);
	return 0;
}
