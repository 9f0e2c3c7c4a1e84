/*
 * The oracle's probe: a freestanding program that runs as /init of a no-MMU
 * Linux and interprets a script of system calls (docs/oracle.md).
 *
 * No libc: raw ecall system calls (asm-generic numbers, passed in by the
 * build as -DNR_<name>=N from the arch profile), everything writable on the
 * stack, strings reached PC-relative, no jump tables, no initialised data, so
 * the bFLT file needs no relocations.
 *
 * Script (/script, one op per line): an op name and its arguments. An
 * argument is an integer (decimal, or 0x hex, possibly negative), a slot
 * reference "$K" or "$K+N"/"$K-N" (the result of op K plus N), or a string
 * '"' followed by hex digits (paths, data).
 *
 * Output on fd 80 (the console), each line starting "@@":
 *   @@B idx n0 .. n10      /proc/buddyinfo counts (before: idx "b<k>", after: "a<k>")
 *   @@M idx free mmapcopy cached slab kernelstack   (kB, from /proc/meminfo)
 *   @@R idx ret            the call's return value (negative: -errno)
 *   @@D idx hex            bytes read back (read, peek, cat)
 *   @@W idx pid status     what wait() returned
 *   @@K idx hex            kernel log text logged during the op
 *   @@E                    the end
 */

typedef unsigned long u64;
typedef long i64;

#define FD_OUT 80
#define FD_SCRIPT 81
#define FD_BUDDY 82
#define FD_MEMINFO 83
#define FD_PAGETYPE 84
#define FD_KMSG 85
#define FD_PIPE_BASE 100 /* write ends of the children's exit pipes: 100 + child slot */
#define FD_CHILD_READ 99 /* a child's read end (inherited across exec) */
#define MAX_SLOTS 4096
#define MAX_CHILDREN 32
#define BUF 65536

static inline i64 sc6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f)
{
	register i64 a0 asm("a0") = a;
	register i64 a1 asm("a1") = b;
	register i64 a2 asm("a2") = c;
	register i64 a3 asm("a3") = d;
	register i64 a4 asm("a4") = e;
	register i64 a5 asm("a5") = f;
	register i64 a7 asm("a7") = n;
	asm volatile("ecall"
		     : "+r"(a0)
		     : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a7)
		     : "memory");
	return a0;
}

#define sc(n, a, b, c) sc6(n, (i64)(a), (i64)(b), (i64)(c), 0, 0, 0)
#define AT_FDCWD (-100)

struct out {
	char b[4096];
	int n;
};

static void flush(struct out *o)
{
	int off = 0;
	while (off < o->n) {
		i64 r = sc(NR_write, FD_OUT, o->b + off, o->n - off);
		if (r <= 0)
			break;
		off += (int)r;
	}
	o->n = 0;
}

static void putc_(struct out *o, char c)
{
	if (o->n == (int)sizeof(o->b))
		flush(o);
	o->b[o->n++] = c;
}

static void puts_(struct out *o, const char *s)
{
	while (*s)
		putc_(o, *s++);
}

static void putnum(struct out *o, i64 v)
{
	char t[24];
	int n = 0;
	u64 u = (u64)v;
	if (v < 0) {
		putc_(o, '-');
		u = (u64)0 - u;
	}
	do {
		t[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		putc_(o, t[--n]);
}

static void puthex(struct out *o, const unsigned char *p, i64 n)
{
	for (i64 i = 0; i < n; i++) {
		putc_(o, "0123456789abcdef"[p[i] >> 4]);
		putc_(o, "0123456789abcdef"[p[i] & 15]);
	}
}

static void tag(struct out *o, const char *what, char kind, int idx)
{
	puts_(o, "@@");
	puts_(o, what);
	putc_(o, ' ');
	if (kind)
		putc_(o, kind);
	putnum(o, idx);
}

/* -- reading the script ----------------------------------------------------- */
struct in {
	char b[4096];
	int pos, len;
};

static int getc_(struct in *s)
{
	if (s->pos == s->len) {
		i64 r = sc(NR_read, FD_SCRIPT, s->b, sizeof(s->b));
		if (r <= 0)
			return -1;
		s->len = (int)r;
		s->pos = 0;
	}
	return (unsigned char)s->b[s->pos++];
}

/* One line split into tokens, in place. */
struct line {
	char text[BUF];
	int ntok;
	char *tok[64];
};

static int read_line(struct in *s, struct line *l)
{
	int n = 0, c;
	while ((c = getc_(s)) >= 0 && c != '\n')
		if (n < BUF - 1)
			l->text[n++] = (char)c;
	if (c < 0 && n == 0)
		return 0;
	l->text[n] = 0;
	l->ntok = 0;
	for (int i = 0; i < n && l->ntok < 64;) {
		while (i < n && l->text[i] == ' ')
			l->text[i++] = 0;
		if (i < n)
			l->tok[l->ntok++] = l->text + i;
		while (i < n && l->text[i] != ' ')
			i++;
	}
	return 1;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static i64 parse_num(const char *p)
{
	int neg = 0;
	u64 v = 0;
	if (*p == '-')
		neg = 1, p++;
	else if (*p == '+')
		p++;
	if (p[0] == '0' && p[1] == 'x') {
		for (p += 2; hexval(*p) >= 0; p++)
			v = v * 16 + (u64)hexval(*p);
	} else {
		for (; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (u64)(*p - '0');
	}
	return neg ? (i64)((u64)0 - v) : (i64)v;
}

static i64 arg(struct line *l, int i, i64 *slots)
{
	const char *p;
	if (i >= l->ntok)
		return 0;
	p = l->tok[i];
	if (*p == '$') {
		i64 k = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			k = k * 10 + (*p - '0');
		return slots[k < MAX_SLOTS ? k : 0] + (*p ? parse_num(p) : 0);
	}
	return parse_num(p);
}

/* A '"hex' token decoded in place (NUL-terminated); returns its length. */
static i64 str(struct line *l, int i, char **out)
{
	char *p = l->tok[i] + 1, *w = l->tok[i];
	i64 n = 0;
	while (hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
		w[n++] = (char)(hexval(p[0]) * 16 + hexval(p[1]));
		p += 2;
	}
	w[n] = 0;
	*out = w;
	return n;
}

/* -- measurements ------------------------------------------------------------ */
static i64 pread_all(int fd, char *buf, i64 cap)
{
	i64 n = 0, r;
	sc(NR_lseek, fd, 0, 0);
	while (n < cap - 1 && (r = sc(NR_read, fd, buf + n, cap - 1 - n)) > 0)
		n += r;
	buf[n] = 0;
	return n;
}

/* What is measured around a call: free blocks per order, the unmovable lists,
 * and five /proc/meminfo fields (kB). */
#define NMEM 5
struct meas {
	i64 buddy[16], unmov[16], mem[NMEM];
	int nb, nu;
};

static const char *mem_name(int i)
{
	return i == 0 ? "MemFree" : i == 1 ? "MmapCopy" : i == 2 ? "Cached" : i == 3 ? "Slab" :
									       "KernelStack";
}

/* the numbers after the first occurrence of KEY and the word that follows it */
static int numbers_after(const char *buf, const char *key, int skip_word, i64 *v)
{
	const char *p = buf;
	int n = 0, k;
	for (; *p; p++) {
		for (k = 0; key[k] && p[k] == key[k]; k++)
			;
		if (!key[k])
			break;
	}
	while (*p && *p != ' ')
		p++;
	if (skip_word) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
	}
	while (*p && *p != '\n' && n < 16) {
		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			break;
		v[n++] = parse_num(p);
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return n;
}

static void measure(struct meas *m, int unmovable)
{
	char buf[4096];
	char *p;
	/* "Node 0, zone   Normal      1      1 ...": the counts follow the zone's name */
	pread_all(FD_BUDDY, buf, sizeof(buf));
	m->nb = numbers_after(buf, "zone", 1, m->buddy);
	m->nu = 0;
	if (unmovable) {
		/* the free blocks of the unmovable lists, which user pages come from */
		pread_all(FD_PAGETYPE, buf, sizeof(buf));
		m->nu = numbers_after(buf, "Unmovable", 0, m->unmov);
	}
	pread_all(FD_MEMINFO, buf, sizeof(buf));
	for (int i = 0; i < NMEM; i++)
		m->mem[i] = 0;
	for (p = buf; *p;) {
		char *name = p;
		while (*p && *p != ':')
			p++;
		if (!*p)
			break;
		*p++ = 0;
		for (int i = 0; i < NMEM; i++)
			if (streq(name, mem_name(i))) {
				while (*p == ' ')
					p++;
				m->mem[i] = parse_num(p);
			}
		while (*p && *p != '\n')
			p++;
		if (*p)
			p++;
	}
}

static void print_abs(struct out *o, int idx, struct meas *m)
{
	tag(o, "B", 'b', idx);
	for (int i = 0; i < m->nb; i++)
		putc_(o, ' '), putnum(o, m->buddy[i]);
	putc_(o, '\n');
	tag(o, "U", 'b', idx);
	for (int i = 0; i < m->nu; i++)
		putc_(o, ' '), putnum(o, m->unmov[i]);
	putc_(o, '\n');
	tag(o, "M", 'b', idx);
	for (int i = 0; i < NMEM; i++)
		putc_(o, ' '), puts_(o, mem_name(i)), putc_(o, '='), putnum(o, m->mem[i]);
	putc_(o, '\n');
}

/* "@@d idx order:change ... | field:change ...": only what changed */
static void print_delta(struct out *o, int idx, struct meas *b, struct meas *a)
{
	tag(o, "d", 0, idx);
	for (int i = 0; i < a->nb && i < b->nb; i++)
		if (a->buddy[i] != b->buddy[i])
			putc_(o, ' '), putnum(o, i), putc_(o, ':'), putnum(o, a->buddy[i] - b->buddy[i]);
	puts_(o, " |");
	for (int i = 0; i < NMEM; i++)
		if (a->mem[i] != b->mem[i])
			putc_(o, ' '), puts_(o, mem_name(i)), putc_(o, ':'),
				putnum(o, a->mem[i] - b->mem[i]);
	putc_(o, '\n');
}

/* The kernel log through /dev/kmsg, opened once: a read allocates nothing (syslog(2)
 * would kmalloc a buffer per call and disturb the free lists between calls). One
 * record per read: "prio,seq,usec,flags;text" and dictionary lines. */
static void klog(struct out *o, int idx)
{
	char buf[2048];
	for (;;) {
		i64 n = sc(NR_read, FD_KMSG, buf, sizeof(buf));
		if (n == -32) /* EPIPE: records were overwritten; go on with the next */
			continue;
		if (n <= 0)
			return;
		tag(o, "K", 0, idx);
		putc_(o, ' ');
		puthex(o, (unsigned char *)buf, n);
		putc_(o, '\n');
	}
}

static void data(struct out *o, int idx, const char *p, i64 n)
{
	tag(o, "D", 0, idx);
	putc_(o, ' ');
	puthex(o, (const unsigned char *)p, n);
	putc_(o, '\n');
}

static i64 cat(struct out *o, int idx, const char *path)
{
	char buf[16384];
	i64 n = 0, r, fd = sc6(NR_openat, AT_FDCWD, (i64)path, 0, 0, 0, 0);
	if (fd < 0)
		return fd;
	while (n < (i64)sizeof(buf) && (r = sc(NR_read, fd, buf + n, sizeof(buf) - n)) > 0)
		n += r;
	sc(NR_close, fd, 0, 0);
	data(o, idx, buf, n);
	return n;
}

static void power_off(void)
{
	sc6(NR_reboot, 0xfee1dead, 672274793, 0x4321fedc, 0, 0, 0);
	for (;;)
		sc(NR_exit, 0, 0, 0);
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	char *dd = d;
	const char *ss = s;
	while (n--)
		*dd++ = *ss++;
	return d;
}

void *memset(void *d, int c, unsigned long n)
{
	char *dd = d;
	while (n--)
		*dd++ = (char)c;
	return d;
}

static void nap(long ns)
{
	long ts[2];
	ts[0] = 0;
	ts[1] = ns;
	sc(NR_nanosleep, ts, 0, 0);
}

static void drain_klog(void)
{
	char buf[1024];
	while (sc(NR_syslog, 9 /* SIZE_UNREAD */, 0, 0) > 0)
		if (sc(NR_syslog, 2 /* READ */, buf, sizeof(buf)) <= 0)
			break;
}

static i64 open_at(const char *path, int fd)
{
	i64 r = sc6(NR_openat, AT_FDCWD, (i64)path, 0, 0, 0, 0);
	if (r >= 0 && r != fd) {
		sc(NR_dup3, r, fd, 0);
		sc(NR_close, r, 0, 0);
	}
	return r;
}

static void run_case(const char *script);

/* pid 1: runs /case0, /case1, ... each in a fresh process (a new mm, its own /tmp) */
static void init_main(void)
{
	struct out o;
	char path[16];
	char *argv[3];
	char *envp[1];
	i64 fd;
	int n;
	o.n = 0;
	sc(NR_dup3, 1, FD_OUT, 0);
	sc6(NR_mount, (i64) "proc", (i64) "/proc", (i64) "proc", 0, 0, 0);
	fd = sc6(NR_openat, AT_FDCWD, (i64) "/dev/null", 2, 0, 0, 0);
	sc(NR_dup3, fd, 0, 0);
	sc(NR_dup3, fd, 1, 0);
	sc(NR_dup3, fd, 2, 0);
	if (fd > 2)
		sc(NR_close, fd, 0, 0);
	puts_(&o, "@@S\n");
	flush(&o);
	for (n = 0; n < 100000; n++) {
		int k, m = n, status = 0;
		i64 pid;
		path[0] = '/', path[1] = 'c', path[2] = 'a', path[3] = 's', path[4] = 'e';
		k = 5;
		{
			char d[8];
			int nd = 0;
			do
				d[nd++] = (char)('0' + m % 10), m /= 10;
			while (m);
			while (nd)
				path[k++] = d[--nd];
			path[k] = 0;
		}
		fd = sc6(NR_openat, AT_FDCWD, (i64)path, 0, 0, 0, 0);
		if (fd < 0)
			break;
		sc(NR_close, fd, 0, 0);
		sc6(NR_mount, (i64) "ramfs", (i64) "/tmp", (i64) "ramfs", 0, 0, 0);
		nap(20000000);
		drain_klog();
		puts_(&o, "@@C ");
		putnum(&o, n);
		putc_(&o, '\n');
		flush(&o);
		argv[0] = (char *)"init";
		argv[1] = path;
		argv[2] = 0;
		envp[0] = 0;
		pid = sc6(NR_clone, 0x4111 /* CLONE_VM|CLONE_VFORK|SIGCHLD */, 0, 0, 0, 0, 0);
		if (pid == 0) {
			sc(NR_execve, "/init", argv, envp);
			sc(NR_exit, 126, 0, 0);
		}
		puts_(&o, "@@P ");
		putnum(&o, n);
		putc_(&o, ' ');
		putnum(&o, pid);
		putc_(&o, '\n');
		flush(&o);
		if (pid > 0)
			sc6(NR_wait4, pid, (i64)&status, 0, 0, 0, 0);
		puts_(&o, "@@X ");
		putnum(&o, n);
		putc_(&o, ' ');
		putnum(&o, pid > 0 ? status : pid);
		putc_(&o, '\n');
		flush(&o);
		sc(NR_kill, -1, 9, 0);
		while (sc6(NR_wait4, -1, (i64)&status, 0, 0, 0, 0) > 0)
			;
		sc(NR_umount2, "/tmp", 2 /* MNT_DETACH */, 0);
	}
	puts_(&o, "@@Z\n");
	flush(&o);
	power_off();
}

void probe_main(long *sp)
{
	if (sp[0] >= 2)
		run_case((const char *)sp[2]);
	init_main();
}

static void run_case(const char *script)
{
	struct out o;
	struct in s;
	struct line l;
	i64 slots[MAX_SLOTS];
	char dbuf[BUF];
	int child_pid[MAX_CHILDREN];
	int nchildren = 0, idx = 0, first = 1;
	struct meas mb, ma;
	o.n = 0;
	s.pos = s.len = 0;
	open_at(script, FD_SCRIPT);
	open_at("/proc/buddyinfo", FD_BUDDY);
	open_at("/proc/meminfo", FD_MEMINFO);
	open_at("/proc/pagetypeinfo", FD_PAGETYPE);
	{
		i64 fd = sc6(NR_openat, AT_FDCWD, (i64) "/dev/kmsg", 04000 /* O_NONBLOCK */, 0, 0,
			     0);
		if (fd >= 0 && fd != FD_KMSG) {
			sc(NR_dup3, fd, FD_KMSG, 0);
			sc(NR_close, fd, 0, 0);
		}
		sc(NR_lseek, FD_KMSG, 0, 2 /* SEEK_END: what was logged before is not ours */);
	}
	/* the first reads allocate the seq_file buffers: do them before anything is measured */
	measure(&mb, 1);

	flush(&o);
	while (read_line(&s, &l)) {
		i64 r = 0;
		char *op;
		char *p1;
		int measured = 1;
		i64 dlen = -1;
		if (l.ntok == 0)
			continue;
		op = l.tok[0];
		/* "!op": not measured (setup, observation) */
		if (*op == '!')
			measured = 0, op++;
		/* the console write comes first: it must not fall between the measurement
		 * and the call */
		flush(&o);
		if (measured) {
			measure(&mb, first);
			if (first)
				print_abs(&o, idx, &mb);
			first = 0;
		}
		if (streq(op, "mmap")) {
			r = sc6(NR_mmap, arg(&l, 1, slots), arg(&l, 2, slots), arg(&l, 3, slots),
				arg(&l, 4, slots), arg(&l, 5, slots), arg(&l, 6, slots));
		} else if (streq(op, "munmap")) {
			r = sc(NR_munmap, arg(&l, 1, slots), arg(&l, 2, slots), 0);
		} else if (streq(op, "mremap")) {
			r = sc6(NR_mremap, arg(&l, 1, slots), arg(&l, 2, slots), arg(&l, 3, slots),
				arg(&l, 4, slots), arg(&l, 5, slots), 0);
		} else if (streq(op, "brk")) {
			r = sc(NR_brk, arg(&l, 1, slots), 0, 0);
		} else if (streq(op, "open")) {
			str(&l, 1, &p1);
			r = sc6(NR_openat, AT_FDCWD, (i64)p1, arg(&l, 2, slots), arg(&l, 3, slots),
				0, 0);
		} else if (streq(op, "close")) {
			r = sc(NR_close, arg(&l, 1, slots), 0, 0);
		} else if (streq(op, "read")) {
			i64 n = arg(&l, 2, slots);
			r = sc(NR_read, arg(&l, 1, slots), dbuf, n > BUF ? BUF : n);
			dlen = r > 0 ? r : -1;
		} else if (streq(op, "peek")) {
			const char *a = (const char *)arg(&l, 1, slots);
			i64 n = arg(&l, 2, slots);
			dlen = n > BUF ? BUF : n;
			for (i64 i = 0; i < dlen; i++)
				dbuf[i] = a[i];
		} else if (streq(op, "write") || streq(op, "poke")) {
			i64 n = str(&l, 2, &p1);
			if (streq(op, "write")) {
				r = sc(NR_write, arg(&l, 1, slots), p1, n);
			} else {
				char *a = (char *)arg(&l, 1, slots);
				for (i64 i = 0; i < n; i++)
					a[i] = p1[i];
			}
		} else if (streq(op, "lseek")) {
			r = sc(NR_lseek, arg(&l, 1, slots), arg(&l, 2, slots), arg(&l, 3, slots));
		} else if (streq(op, "ftruncate")) {
			r = sc(NR_ftruncate, arg(&l, 1, slots), arg(&l, 2, slots), 0);
		} else if (streq(op, "truncate")) {
			str(&l, 1, &p1);
			r = sc(NR_truncate, p1, arg(&l, 2, slots), 0);
		} else if (streq(op, "unlink")) {
			str(&l, 1, &p1);
			r = sc(NR_unlinkat, AT_FDCWD, p1, 0);
		} else if (streq(op, "mkdir")) {
			str(&l, 1, &p1);
			r = sc(NR_mkdirat, AT_FDCWD, p1, arg(&l, 2, slots));
		} else if (streq(op, "cat")) {
			str(&l, 1, &p1);
			r = cat(&o, idx, p1);
		} else if (streq(op, "copy")) {
			/* copy SRC DST MODE: install a file, its size set first (one run of pages) */
			char buf[BUF];
			char *p2;
			i64 in, outfd, n, size = 0;
			str(&l, 1, &p1);
			str(&l, 2, &p2);
			in = sc6(NR_openat, AT_FDCWD, (i64)p1, 0, 0, 0, 0);
			outfd = sc6(NR_openat, AT_FDCWD, (i64)p2, 01 | 0100 | 01000, arg(&l, 3, slots),
				    0, 0);
			r = in < 0 ? in : outfd;
			if (in >= 0 && outfd >= 0) {
				size = sc(NR_lseek, in, 0, 2);
				sc(NR_lseek, in, 0, 0);
				r = sc(NR_ftruncate, outfd, size, 0);
				while (r >= 0 && (n = sc(NR_read, in, buf, BUF)) > 0)
					r = sc(NR_write, outfd, buf, n);
				if (r >= 0)
					r = sc6(NR_fchmodat, AT_FDCWD, (i64)p2, arg(&l, 3, slots), 0, 0, 0);
			}
			if (in >= 0)
				sc(NR_close, in, 0, 0);
			if (outfd >= 0)
				sc(NR_close, outfd, 0, 0);
		} else if (streq(op, "sysctl")) {
			/* sysctl PATH VALUE: write VALUE (hex string) to /proc/sys/... */
			char *v;
			i64 n, fd;
			str(&l, 1, &p1);
			n = str(&l, 2, &v);
			fd = sc6(NR_openat, AT_FDCWD, (i64)p1, 1, 0, 0, 0);
			r = fd;
			if (fd >= 0) {
				r = sc(NR_write, fd, v, n);
				sc(NR_close, fd, 0, 0);
			}
		} else if (streq(op, "vfork")) {
			/* vfork PATH FAILSTATUS NARGS ARG...: vfork, and exec in the child; if the
			 * exec fails the child exits with FAILSTATUS. Returns the child's pid;
			 * the exec's result is slot idx+1 (the next op is "execres"). */
			char *argv[32];
			char *envp[1];
			volatile i64 exec_r = 0;
			int fds[2], k = nchildren;
			i64 nargs = arg(&l, 3, slots), fail = arg(&l, 2, slots), pid;
			str(&l, 1, &p1);
			for (int i = 0; i < nargs && i < 31; i++)
				str(&l, 4 + i, &argv[i]);
			argv[nargs < 31 ? nargs : 31] = 0;
			envp[0] = 0;
			if (k < MAX_CHILDREN && sc(NR_pipe2, fds, 0, 0) == 0) {
				sc(NR_dup3, fds[0], FD_CHILD_READ, 0);
				sc(NR_close, fds[0], 0, 0);
				sc(NR_dup3, fds[1], FD_PIPE_BASE + k, 02000000 /* O_CLOEXEC */);
				sc(NR_close, fds[1], 0, 0);
			}
			pid = sc6(NR_clone, 0x4111 /* CLONE_VM|CLONE_VFORK|SIGCHLD */, 0, 0, 0, 0, 0);
			if (pid == 0) {
				exec_r = sc(NR_execve, p1, argv, envp);
				sc(NR_exit, fail, 0, 0);
			}
			sc(NR_close, FD_CHILD_READ, 0, 0);
			/* a child whose exec failed has exited already: its exit op does nothing */
			if (k < MAX_CHILDREN && pid > 0)
				child_pid[nchildren++] = exec_r < 0 ? (int)-pid : (int)pid;
			r = pid;
			slots[idx + 1] = exec_r;
		} else if (streq(op, "execres")) {
			r = slots[idx];
		} else if (streq(op, "exit")) {
			/* exit PID STATUS: the parked child reads STATUS from its pipe and exits */
			i64 pid = arg(&l, 1, slots);
			char st = (char)arg(&l, 2, slots);
			r = -3; /* ESRCH */
			for (int k = 0; k < nchildren; k++)
				if (child_pid[k] == -pid) {
					r = 0;
					child_pid[k] = -1;
					sc(NR_close, FD_PIPE_BASE + k, 0, 0);
				} else if (child_pid[k] == pid) {
					r = sc(NR_write, FD_PIPE_BASE + k, &st, 1);
					sc(NR_close, FD_PIPE_BASE + k, 0, 0);
					child_pid[k] = -1;
					r = r == 1 ? 0 : r;
				}
		} else if (streq(op, "wait")) {
			int status = 0;
			r = sc6(NR_wait4, -1, (i64)&status, 0, 0, 0, 0);
			tag(&o, "W", 0, idx);
			putc_(&o, ' ');
			putnum(&o, r);
			putc_(&o, ' ');
			putnum(&o, status);
			putc_(&o, '\n');
		} else if (streq(op, "kill")) {
			r = sc(NR_kill, arg(&l, 1, slots), arg(&l, 2, slots), 0);
		} else {
			r = -38; /* ENOSYS: an op this probe does not know */
		}
		/* process ops: let the RCU callbacks of a dead task run before measuring */
		if (streq(op, "vfork") || streq(op, "exit") || streq(op, "wait") || streq(op, "kill"))
			nap(5000000);
		if (measured) {
			measure(&ma, 0);
			print_delta(&o, idx, &mb, &ma);
		}
		if (dlen >= 0)
			data(&o, idx, dbuf, dlen);
		if (idx < MAX_SLOTS)
			slots[idx] = r;
		tag(&o, "R", 0, idx);
		putc_(&o, ' ');
		putnum(&o, r);
		putc_(&o, '\n');
		klog(&o, idx);
		flush(&o);
		idx++;
	}
	puts_(&o, "@@E\n");
	flush(&o);
	for (;;)
		sc(NR_exit_group, 0, 0, 0);
}

/* The bFLT entry point: the kernel's stack pointer is already set. */
__attribute__((naked, section(".text.start"))) void _start(void)
{
	asm volatile("mv a0, sp\n\tj probe_main");
}
