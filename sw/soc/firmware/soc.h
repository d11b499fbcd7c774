/* soc.h: the RISC-V system's memory map (hw/soc/pimacc_soc.v) and the console. */
#ifndef PIMACC_SOC_H
#define PIMACC_SOC_H

#include <stdint.h>

#define SOC_IO_BASE 0x10000000u
#define SOC_CONSOLE (SOC_IO_BASE + 0x0)    /* write: one byte to the console */
#define SOC_FINISH (SOC_IO_BASE + 0x4)     /* write: end the simulation, this exit code */
#define SOC_CYCLES (SOC_IO_BASE + 0x8)     /* read: clock cycles since reset (low word) */
#define SOC_CYCLES_HI (SOC_IO_BASE + 0xC)  /* read: the high word as of the last low read */
#define SOC_PROFILE (SOC_IO_BASE + 0x10)  /* write: 1/0 the testbench's profile on/off */
#define SOC_ACC_BASE 0x40000000u           /* the accelerator's registers */

static inline void soc_write(uint32_t addr, uint32_t value)
{
    *(volatile uint32_t *)addr = value;
}

static inline uint32_t soc_read(uint32_t addr) { return *(volatile uint32_t *)addr; }

static inline uint32_t soc_cycles(void) { return soc_read(SOC_CYCLES); }

void console_putc(char c);
void console_puts(const char *s);
void console_int(int32_t v);

#endif /* PIMACC_SOC_H */
