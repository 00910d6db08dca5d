/*
 * ftforge_envsafe.c — environment updates that cannot crash concurrent getenv().
 *
 * Linked into libpython of ftforge's free-threaded CPython builds. On glibc older than
 * 2.40, setenv()/unsetenv() may free or move the environment array while another
 * thread's getenv() walks it (the "mtenv" crash of free-threaded Python). These
 * definitions of setenv, unsetenv, putenv and clearenv interpose glibc's (libpython
 * comes before libc in the symbol search order) and update the environment the way
 * glibc 2.40 does:
 *   - an array is never freed or shrunk while a reader may walk it: a full array is
 *     replaced by one twice as large and the old one is kept (bounded: geometric);
 *   - entries are published with release stores; the terminating NULL is always there;
 *   - "NAME=value" strings are never freed (identical ones are reused).
 * On glibc >= 2.40, or with FTFORGE_ENVSAFE=0 in the environment at the first update,
 * every call passes straight through to glibc.
 *
 * What stays unsafe: code that caches `environ` and iterates it without getenv() may
 * see an entry twice or miss one during an unsetenv() (never a freed pointer); and
 * writers that bypass these functions (assigning `environ` directly) are adopted on
 * the next update, not synchronised.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

extern char **environ;

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static int mode = -1; /* -1: undecided, 0: pass through to glibc, 1: active */
static char **ours;   /* the array we maintain (published as environ) */
static size_t count, capacity;

static int (*real_setenv)(const char *, const char *, int);
static int (*real_unsetenv)(const char *);
static int (*real_putenv)(char *);
static int (*real_clearenv)(void);

/* Interned "NAME=value" strings: never freed, reused when identical. */
static char **interned;
static size_t interned_used, interned_cap;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static char *intern_locked(const char *name, size_t name_len, const char *value) {
    size_t value_len = strlen(value);
    size_t len = name_len + 1 + value_len;
    if (interned_used * 2 >= interned_cap) {
        size_t new_cap = interned_cap ? interned_cap * 2 : 1024;
        char **table = calloc(new_cap, sizeof(char *));
        if (!table) return NULL;
        for (size_t i = 0; i < interned_cap; i++) {
            char *s = interned[i];
            if (!s) continue;
            size_t j = fnv1a(s, strlen(s)) & (new_cap - 1);
            while (table[j]) j = (j + 1) & (new_cap - 1);
            table[j] = s;
        }
        free(interned); /* the table only, never the strings */
        interned = table;
        interned_cap = new_cap;
    }
    char *buf = malloc(len + 1);
    if (!buf) return NULL;
    memcpy(buf, name, name_len);
    buf[name_len] = '=';
    memcpy(buf + name_len + 1, value, value_len + 1);
    size_t j = fnv1a(buf, len) & (interned_cap - 1);
    while (interned[j]) {
        if (strcmp(interned[j], buf) == 0) {
            free(buf);
            return interned[j];
        }
        j = (j + 1) & (interned_cap - 1);
    }
    interned[j] = buf;
    interned_used++;
    return buf;
}

static int glibc_at_least(int major, int minor) {
    int ma = 0, mi = 0;
    if (sscanf(gnu_get_libc_version(), "%d.%d", &ma, &mi) != 2) return 0;
    return ma > major || (ma == major && mi >= minor);
}

static void decide_locked(void) {
    if (mode != -1) return;
    real_setenv = (int (*)(const char *, const char *, int))dlsym(RTLD_NEXT, "setenv");
    real_unsetenv = (int (*)(const char *))dlsym(RTLD_NEXT, "unsetenv");
    real_putenv = (int (*)(char *))dlsym(RTLD_NEXT, "putenv");
    real_clearenv = (int (*)(void))dlsym(RTLD_NEXT, "clearenv");
    const char *off = getenv("FTFORGE_ENVSAFE");
    int disabled = off && strcmp(off, "0") == 0;
    int have_all = real_setenv && real_unsetenv && real_putenv && real_clearenv;
    mode = (!have_all || disabled || glibc_at_least(2, 40)) ? 0 : 1;
    if (!have_all) mode = 1; /* cannot pass through: keep the safe implementation */
}

/* Makes `ours` the published environment (adopting whatever environ is now). */
static int adopt_locked(void) {
    char **current = environ;
    if (ours && current == ours) return 0;
    size_t n = 0;
    while (current && current[n]) n++;
    size_t cap = n < 32 ? 64 : n * 2;
    char **array = calloc(cap + 1, sizeof(char *));
    if (!array) return -1;
    if (n) memcpy(array, current, n * sizeof(char *));
    ours = array;
    count = n;
    capacity = cap;
    __atomic_store_n(&environ, array, __ATOMIC_RELEASE);
    return 0;
}

static int grow_locked(void) {
    size_t cap = capacity * 2;
    char **array = calloc(cap + 1, sizeof(char *));
    if (!array) return -1;
    memcpy(array, ours, count * sizeof(char *));
    /* The old array stays allocated: a reader may still be walking it. */
    ours = array;
    capacity = cap;
    __atomic_store_n(&environ, array, __ATOMIC_RELEASE);
    return 0;
}

static long find_locked(const char *name, size_t name_len) {
    for (size_t i = 0; i < count; i++) {
        const char *e = ours[i];
        if (e && strncmp(e, name, name_len) == 0 && e[name_len] == '=') return (long)i;
    }
    return -1;
}

/* Puts `entry` at the slot of `name` (replacing) or appends it. */
static int store_locked(const char *name, size_t name_len, char *entry, int overwrite) {
    long i = find_locked(name, name_len);
    if (i >= 0) {
        if (overwrite) __atomic_store_n(&ours[i], entry, __ATOMIC_RELEASE);
        return 0;
    }
    if (count == capacity && grow_locked() != 0) return -1;
    /* ours[count + 1] is NULL already (calloc, and removals clear the old last slot). */
    __atomic_store_n(&ours[count], entry, __ATOMIC_RELEASE);
    count++;
    return 0;
}

static int valid_name(const char *name) {
    return name && *name && !strchr(name, '=');
}

EXPORT int setenv(const char *name, const char *value, int overwrite) {
    if (!valid_name(name)) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&env_lock);
    decide_locked();
    if (mode == 0) {
        pthread_mutex_unlock(&env_lock);
        return real_setenv(name, value, overwrite);
    }
    int rc = -1;
    size_t name_len = strlen(name);
    if (adopt_locked() == 0) {
        if (!overwrite && find_locked(name, name_len) >= 0) {
            rc = 0;
        } else {
            char *entry = intern_locked(name, name_len, value ? value : "");
            rc = entry ? store_locked(name, name_len, entry, overwrite) : -1;
        }
    }
    pthread_mutex_unlock(&env_lock);
    if (rc != 0) errno = ENOMEM;
    return rc;
}

static void remove_locked(const char *name, size_t name_len) {
    long i;
    while ((i = find_locked(name, name_len)) >= 0) {
        size_t last = count - 1;
        /* A reader sees the moved entry twice at worst, never a dangling pointer. */
        if ((size_t)i != last) __atomic_store_n(&ours[i], ours[last], __ATOMIC_RELEASE);
        __atomic_store_n(&ours[last], NULL, __ATOMIC_RELEASE);
        count--;
    }
}

EXPORT int unsetenv(const char *name) {
    if (!valid_name(name)) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&env_lock);
    decide_locked();
    if (mode == 0) {
        pthread_mutex_unlock(&env_lock);
        return real_unsetenv(name);
    }
    int rc = adopt_locked();
    if (rc == 0) remove_locked(name, strlen(name));
    pthread_mutex_unlock(&env_lock);
    if (rc != 0) errno = ENOMEM;
    return rc;
}

EXPORT int putenv(char *string) {
    if (!string) {
        errno = EINVAL;
        return -1;
    }
    const char *eq = strchr(string, '=');
    pthread_mutex_lock(&env_lock);
    decide_locked();
    if (mode == 0) {
        pthread_mutex_unlock(&env_lock);
        return real_putenv(string);
    }
    int rc = adopt_locked();
    if (rc == 0) {
        if (!eq) {
            remove_locked(string, strlen(string)); /* glibc: putenv("NAME") unsets */
        } else {
            rc = store_locked(string, (size_t)(eq - string), string, 1); /* the caller's string, as POSIX says */
        }
    }
    pthread_mutex_unlock(&env_lock);
    if (rc != 0) errno = ENOMEM;
    return rc;
}

EXPORT int clearenv(void) {
    pthread_mutex_lock(&env_lock);
    decide_locked();
    if (mode == 0) {
        pthread_mutex_unlock(&env_lock);
        return real_clearenv();
    }
    char **array = calloc(65, sizeof(char *));
    int rc = -1;
    if (array) {
        ours = array;
        count = 0;
        capacity = 64;
        __atomic_store_n(&environ, array, __ATOMIC_RELEASE);
        rc = 0;
    }
    pthread_mutex_unlock(&env_lock);
    return rc;
}

/* 1 when the safe implementation is in use, 0 when calls pass through to glibc. */
EXPORT int ftforge_envsafe_active(void) {
    pthread_mutex_lock(&env_lock);
    decide_locked();
    int m = mode;
    pthread_mutex_unlock(&env_lock);
    return m;
}
