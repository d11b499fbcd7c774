/* crt0.S: start-up of the firmware on the RISC-V system (hw/soc/pimacc_soc.v).
 * The testbench loads the whole image into RAM at 0 (PicoRV32 starts there): nothing to copy,
 * only .bss to clear. main's return value goes to FINISH, which ends the simulation. */
    .section .text.start, "ax"
    .global _start
_start:
    la sp, _stack_top
    la a0, _bss_start
    la a1, _bss_end
1:  bgeu a0, a1, 2f
    sw zero, 0(a0)
    addi a0, a0, 4
    j 1b
2:  call main
    li t0, 0x10000004       /* FINISH */
    sw a0, 0(t0)
3:  j 3b
