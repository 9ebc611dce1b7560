; Ring all-reduce (sum) of a 4x16 fp32 tile over 8 cores: a 2x2 block of cores on each of the
; chips 0.0 and 0.1 of the mini target (the ring crosses the chip edge twice, in y).
; Ring order: 0.0.0.0 0.0.1.0 0.0.1.1 0.0.0.1 0.1.0.0 0.1.1.0 0.1.1.1 0.1.0.1.
; Each core keeps acc = its own tile and passes buf around 7 times: after step s it holds the
; tile of the core s places back, so acc = x_i + x_{i-1} + ... + x_{i-7}, added in that order.
.target "mini"
.params 0x3f000, 2

.code allreduce, 0.0-1.0-1.0-1
    csrr x1, param
    ld x2, x1, 0                ; next core
    ld x3, x1, 4                ; previous core
    tbase t0, x0, 0             ; t0 = acc (SRAM 0x0, holds the input)
    tshapei t0, 4, 16
    tfmt t0, fp32, 0
    tbase t1, x0, 0x400         ; t1 = buf
    tshapei t1, 4, 16
    tfmt t1, fp32, 0
    tcopy t1, t0
    li x4, 7
step:
    send t1, x2, 3
    recv t1, x3, 3
    vadd t0, t0, t1, rne
    loop x4, step
    halt

.param 0.0.0.0, 0x00000100, 0x00010001
.param 0.0.1.0, 0x00000101, 0x00000000
.param 0.0.1.1, 0x00000001, 0x00000100
.param 0.0.0.1, 0x00010000, 0x00000101
.param 0.1.0.0, 0x00010100, 0x00000001
.param 0.1.1.0, 0x00010101, 0x00010000
.param 0.1.1.1, 0x00010001, 0x00010100
.param 0.1.0.1, 0x00000000, 0x00010101

.symbol x, input, fp32, 0, [8, 4, 16], "tile i in SRAM 0x0 of ring core i"
.place sram, 0.0.0.0, 0x0, [0:1, 0:4, 0:16], [0, 64, 4]
.place sram, 0.0.1.0, 0x0, [1:2, 0:4, 0:16], [0, 64, 4]
.place sram, 0.0.1.1, 0x0, [2:3, 0:4, 0:16], [0, 64, 4]
.place sram, 0.0.0.1, 0x0, [3:4, 0:4, 0:16], [0, 64, 4]
.place sram, 0.1.0.0, 0x0, [4:5, 0:4, 0:16], [0, 64, 4]
.place sram, 0.1.1.0, 0x0, [5:6, 0:4, 0:16], [0, 64, 4]
.place sram, 0.1.1.1, 0x0, [6:7, 0:4, 0:16], [0, 64, 4]
.place sram, 0.1.0.1, 0x0, [7:8, 0:4, 0:16], [0, 64, 4]

.symbol y, output, fp32, 0, [8, 4, 16], "the sum as ring core i computed it"
.place sram, 0.0.0.0, 0x0, [0:1, 0:4, 0:16], [0, 64, 4]
.place sram, 0.0.1.0, 0x0, [1:2, 0:4, 0:16], [0, 64, 4]
.place sram, 0.0.1.1, 0x0, [2:3, 0:4, 0:16], [0, 64, 4]
.place sram, 0.0.0.1, 0x0, [3:4, 0:4, 0:16], [0, 64, 4]
.place sram, 0.1.0.0, 0x0, [4:5, 0:4, 0:16], [0, 64, 4]
.place sram, 0.1.1.0, 0x0, [5:6, 0:4, 0:16], [0, 64, 4]
.place sram, 0.1.1.1, 0x0, [6:7, 0:4, 0:16], [0, 64, 4]
.place sram, 0.1.0.1, 0x0, [7:8, 0:4, 0:16], [0, 64, 4]
