; 64x64x64 BF16 matmul on one core: C[64,64] fp32 = A[64,64] bf16 @ B[64,64] bf16.
; A and B come from DIP HBM by DMA into SRAM; K runs in 4 blocks of 16 with one mma per block
; (products exact, fp32 accumulation sequential in K); C goes back to HBM.
; SRAM: A at 0x0 (8 KiB), B at 0x2000 (8 KiB), C at 0x4000 (16 KiB).
.target "dojo-tile"

.code matmul, 0.0.0.0
    ; t0 = A, t1 = B (dense 64x64 bf16), t2 = C (dense 64x64 fp32)
    tbase t0, x0, 0
    tshapei t0, 64, 64
    tfmt t0, bf16, 0
    tbase t1, x0, 8192
    tshapei t1, 64, 64
    tfmt t1, bf16, 0
    tbase t2, x0, 16384
    tshapei t2, 64, 64
    tfmt t2, fp32, 0
    ; DMA A (HBM 0x0) and B (HBM 0x2000), HBM row stride 128 bytes, under tag 0
    li x2, 0
    li x3, 8192
    li x4, 128
    dma.ld t0, x2, x0, x4, 0
    dma.ld t1, x3, x0, x4, 0
    dma.wait 0
    ; t3 = A[:, k:k+16] (64 rows, 16 cols, row stride 128), t4 = B[k:k+16, :] (16x64 dense)
    li x5, 16
    li x6, 64
    tshape t3, x6, x5, x4
    tfmt t3, bf16, 0
    tshapei t4, 16, 64
    tfmt t4, bf16, 0
    ; k = 0: C = A[:, 0:16] @ B[0:16, :]
    li x7, 0
    li x8, 8192
    tbase t3, x7, 0
    tbase t4, x8, 0
    mma t2, t3, t4, zero
    ; k = 16, 32, 48: C += A[:, k:k+16] @ B[k:k+16, :]
    li x9, 3
kloop:
    addi x7, x7, 32
    addi x8, x8, 2048
    tbase t3, x7, 0
    tbase t4, x8, 0
    mma t2, t3, t4, acc
    loop x9, kloop
    ; C to HBM 0x4000 (row stride 256 bytes) under tag 1
    li x10, 16384
    li x11, 256
    dma.st t2, x10, x0, x11, 1
    dma.wait 1
    halt

.symbol a, input, bf16, 0, [64, 64], "row-major"
.place hbm, 0x0, [0:64, 0:64], [128, 2]

.symbol b, input, bf16, 0, [64, 64], "row-major"
.place hbm, 0x2000, [0:64, 0:64], [128, 2]

.symbol c, output, fp32, 0, [64, 64], "row-major"
.place hbm, 0x4000, [0:64, 0:64], [256, 4]
