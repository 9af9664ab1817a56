/* Boot arguments: the seed config's `args`, which the VMM puts at SF_CMDLINE_GPA. The runtime
 * splits them into main's argv (argv[0] = the program's name); helpers read `key=value` words. */
#ifndef SFGUEST_ARGS_H
#define SFGUEST_ARGS_H

/* A program may name itself for argv[0] (default "guest"): SF_PROGRAM_NAME("hello"); at file scope. */
#define SF_PROGRAM_NAME(name) const char sf_program_name[] = name

#define SF_MAX_ARGS 128

/* Splits buf in place into at most max words (whitespace-separated; "..." and '...' group,
 * backslash escapes the next character outside single quotes). Returns the count. */
int sf_split_args(char *buf, char **argv, int max);

/* The value of the last `key=value` word in argv[1..argc), "" for a bare `key`, NULL if absent. */
const char *sf_arg_get(int argc, char **argv, const char *key);
/* Parses an unsigned integer (decimal, 0x hex, 0 octal; optional k/m/g suffix = KiB/MiB/GiB).
 * Returns 0 and stores *out, or -1 if s is not entirely such a number or it overflows. */
int sf_parse_u64(const char *s, unsigned long long *out);
/* *out = the value of `key`, or dflt if absent. Returns 0, or -1 (and prints why) if malformed. */
int sf_arg_u64(int argc, char **argv, const char *key, unsigned long long dflt, unsigned long long *out);

#endif /* SFGUEST_ARGS_H */
