/* console.c: text to the testbench's console, and the memset/memcpy GCC may call
 * (the firmware has no C library). */
#include <stddef.h>

#include "soc.h"

void console_putc(char c) { soc_write(SOC_CONSOLE, (uint8_t)c); }

void console_puts(const char *s)
{
    while (*s)
        console_putc(*s++);
}

void console_int(int32_t v)
{
    char buf[12];
    int n = 0;
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    if (v < 0)
        console_putc('-');
    do {
        buf[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        console_putc(buf[--n]);
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}
