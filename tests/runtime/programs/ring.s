; Ring shift over 8 cores on two chips of the mini target (global row gy = 0, gx = 0..7):
; core i sends its 16 fp32 values to core i+1 and receives core i-1's into y.
; Parameter row of each core: packed coordinate of the next core, then of the previous one.
.target "mini"
.params 0x3f000, 2

.code ring, 0-1.0.0-3.0
    csrr x1, param
    ld x2, x1, 0                ; next core
    ld x3, x1, 4                ; previous core
    tbase t0, x0, 0             ; t0 = x row (SRAM 0x0)
    tshapei t0, 1, 16
    tfmt t0, fp32, 0
    tbase t1, x0, 256           ; t1 = y row (SRAM 0x100)
    tshapei t1, 1, 16
    tfmt t1, fp32, 0
    send t0, x2, 7
    recv t1, x3, 7
    halt

; core i = chip_x*4 + core_x; packed coord = chip_x << 24 | core_x << 8
.param 0.0.0.0, 0x00000100, 0x01000300
.param 0.0.1.0, 0x00000200, 0x00000000
.param 0.0.2.0, 0x00000300, 0x00000100
.param 0.0.3.0, 0x01000000, 0x00000200
.param 1.0.0.0, 0x01000100, 0x00000300
.param 1.0.1.0, 0x01000200, 0x01000000
.param 1.0.2.0, 0x01000300, 0x01000100
.param 1.0.3.0, 0x00000000, 0x01000200

.symbol x, input, fp32, 0, [8, 16], "row i in SRAM 0x0 of core i"
.place sram, 0.0.0.0, 0x0, [0:1, 0:16], [64, 4]
.place sram, 0.0.1.0, 0x0, [1:2, 0:16], [64, 4]
.place sram, 0.0.2.0, 0x0, [2:3, 0:16], [64, 4]
.place sram, 0.0.3.0, 0x0, [3:4, 0:16], [64, 4]
.place sram, 1.0.0.0, 0x0, [4:5, 0:16], [64, 4]
.place sram, 1.0.1.0, 0x0, [5:6, 0:16], [64, 4]
.place sram, 1.0.2.0, 0x0, [6:7, 0:16], [64, 4]
.place sram, 1.0.3.0, 0x0, [7:8, 0:16], [64, 4]

.symbol y, output, fp32, 0, [8, 16], "row i in SRAM 0x100 of core i"
.place sram, 0.0.0.0, 0x100, [0:1, 0:16], [64, 4]
.place sram, 0.0.1.0, 0x100, [1:2, 0:16], [64, 4]
.place sram, 0.0.2.0, 0x100, [2:3, 0:16], [64, 4]
.place sram, 0.0.3.0, 0x100, [3:4, 0:16], [64, 4]
.place sram, 1.0.0.0, 0x100, [4:5, 0:16], [64, 4]
.place sram, 1.0.1.0, 0x100, [5:6, 0:16], [64, 4]
.place sram, 1.0.2.0, 0x100, [6:7, 0:16], [64, 4]
.place sram, 1.0.3.0, 0x100, [7:8, 0:16], [64, 4]
