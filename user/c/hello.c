/*
 * A static Linux riscv64 program built by Debian's cross compiler (riscv64-linux-gnu-gcc
 * -static -nostdlib), with no kvas code in it: the initrd-c-program boot test runs it as /init,
 * unmodified. It uses only the system calls kvas implements, through Linux's ABI, and exits
 * with status 3 when every answer is what Linux would give (1 otherwise).
 *
 * The same source builds for riscv32 (-march=rv32imac -mabi=ilp32 -Wl,-melf32lriscv): ELF32
 * program headers, and Linux's 32-bit ABI has clock_gettime64 (403) instead of 113.
 */

typedef unsigned long u64;

#if __riscv_xlen == 32
#define PHENT 32
#define PH_VADDR 8
#define PH_MEMSZ 20
#define PH_FLAGS 24
#define NR_CLOCK_GETTIME 403
typedef unsigned int phword;
#else
#define PHENT 56
#define PH_VADDR 16
#define PH_MEMSZ 40
#define PH_FLAGS 4
#define NR_CLOCK_GETTIME 113
typedef unsigned long phword;
#endif

/* A system call's result is an error when it is -4095..-1; an address may be above 2 GiB. */
static int is_error(long r)
{
    return (unsigned long)r > -4096UL;
}

static long sys(long n, long a, long b, long c, long d, long e, long f)
{
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    register long a3 __asm__("a3") = d;
    register long a4 __asm__("a4") = e;
    register long a5 __asm__("a5") = f;
    register long a7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a7) : "memory");
    return a0;
}

static u64 len(const char *s)
{
    u64 n = 0;
    while (s[n])
        n++;
    return n;
}

static void say(const char *s)
{
    sys(64 /* write */, 1, (long)s, (long)len(s), 0, 0, 0);
}

static int failed;

static void check(int ok, const char *what)
{
    if (!ok) {
        say("c-init: wrong answer: ");
        say(what);
        say("\n");
        failed = 1;
    }
}

/* Linux's entry: sp points at argc, then argv, envp and the auxiliary vector. */
__asm__(".globl _start\n_start:\n\tmv a0, sp\n\tj cmain\n");

static long aux(long *sp, long key)
{
    long argc = sp[0];
    long *p = sp + 1 + argc + 1;
    while (*p)
        p++; /* envp */
    for (p++; p[0]; p += 2)
        if (p[0] == key)
            return p[1];
    return -1;
}

extern char _start[];

/* Whether the program headers at `ph` (AT_PHDR) hold an executable PT_LOAD around _start. */
static int text_in_phdrs(char *ph, long n)
{
    if (ph == 0 || is_error((long)ph))
        return 0;
    for (long i = 0; i < n; i++) {
        unsigned int type = *(unsigned int *)(ph + PHENT * i), flags = *(unsigned int *)(ph + PHENT * i + PH_FLAGS);
        u64 vaddr = *(phword *)(ph + PHENT * i + PH_VADDR), memsz = *(phword *)(ph + PHENT * i + PH_MEMSZ);
        if (type == 1 /* PT_LOAD */ && (flags & 1) /* PF_X */ && vaddr <= (u64)_start && (u64)_start < vaddr + memsz)
            return 1;
    }
    return 0;
}

void cmain(long *sp)
{
    char uts[390];
    long long ts[2]; /* struct __kernel_timespec: 64-bit fields on both widths */
    say("c-init: hello from a C program built by riscv64-linux-gnu-gcc\n");
    check(sp[0] >= 1 && ((char *)sp[1])[0] == '/', "argc and argv[0]");
    check(aux(sp, 6 /* AT_PAGESZ */) == 4096, "AT_PAGESZ");
    check(aux(sp, 9 /* AT_ENTRY */) == (long)_start, "AT_ENTRY");
    check(aux(sp, 5 /* AT_PHNUM */) > 0 && aux(sp, 4 /* AT_PHENT */) == PHENT, "AT_PHNUM, AT_PHENT");
    check(text_in_phdrs((char *)aux(sp, 3 /* AT_PHDR */), aux(sp, 5)), "AT_PHDR");
    /* An address: above 2 GiB it is a negative long on riscv32 (4G/4G); -1 is "absent". */
    check(aux(sp, 25 /* AT_RANDOM */) != 0 && aux(sp, 25) != -1 && aux(sp, 23 /* AT_SECURE */) == 0, "AT_RANDOM, AT_SECURE");
    check(sys(172 /* getpid */, 0, 0, 0, 0, 0, 0) > 0, "getpid");
    check(sys(160 /* uname */, (long)uts, 0, 0, 0, 0, 0) == 0 && uts[0] == 'L' && uts[260] == 'r', "uname");
    check(sys(NR_CLOCK_GETTIME, 1, (long)ts, 0, 0, 0, 0) == 0 && ts[1] < 1000000000, "clock_gettime");
    check(sys(124 /* sched_yield */, 0, 0, 0, 0, 0, 0) == 0, "sched_yield");
    long b = sys(214 /* brk */, 0, 0, 0, 0, 0, 0);
    check(sys(214, b + 8192, 0, 0, 0, 0, 0) == b + 8192, "brk");
    ((volatile char *)b)[8191] = 1;
    long m = sys(222 /* mmap */, 0, 65536, 3 /* RW */, 0x22 /* PRIVATE|ANONYMOUS */, -1, 0);
    check(m != 0 && !is_error(m), "mmap");
    ((volatile long *)m)[100] = 42;
    check(sys(226 /* mprotect */, m, 4096, 1, 0, 0, 0) == 0, "mprotect");
    check(((volatile long *)m)[100] == 42, "memory after mprotect");
    check(sys(215 /* munmap */, m, 65536, 0, 0, 0, 0) == 0, "munmap");
    check(sys(64, 1, 0x1000, 8, 0, 0, 0) == -14, "write from an unmapped page: -EFAULT");
    check(sys(56 /* openat */, -100, (long)"/", 0, 0, 0, 0) == -38, "openat: -ENOSYS");
    say(failed ? "c-init: FAILED\n" : "c-init: every answer as on Linux\n");
    sys(94 /* exit_group */, failed ? 1 : 3, 0, 0, 0, 0, 0);
    for (;;)
        ;
}
