// Runs a kernel's grid on the CPU (cuda_on_cpu.h): blocks one after the other, each block's
// threads as coroutines switched at barriers, so `__syncthreads` and the warp-wide operations
// have their CUDA meaning. `emulate_grid` calls `body(data)` on every thread with the
// built-in indices set; the body calls the kernel. On x86-64 a switch saves the callee-saved
// registers and the stack pointer (a few instructions); elsewhere it is ucontext's, which
// also saves the signal mask with a system call per switch.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include "cuda_on_cpu.h"

EmulatedDim threadIdx, blockIdx, blockDim, gridDim;

namespace {

#if defined(__x86_64__)
// A coroutine's context: its stack pointer, below the callee-saved registers it pushed.
struct Context {
    void* sp = nullptr;
};

// Pushes the callee-saved registers, stores the stack pointer in *save, loads `load` and
// pops the registers saved there: returns into the other coroutine.
extern "C" void emulator_switch(void** save, void* load);
asm(R"(
    .text
    .globl emulator_switch
    .hidden emulator_switch
    .type emulator_switch, @function
emulator_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emulator_switch, .-emulator_switch
)");

// Makes `context` start `entry` on `stack` at its first switch: six zero registers to pop,
// then `entry` as the return address, the stack aligned as at a call.
void start_context(Context& context, std::vector<char>& stack, void (*entry)()) {
    auto top = (reinterpret_cast<std::uintptr_t>(stack.data() + stack.size())) & ~std::uintptr_t(15);
    void** frame = reinterpret_cast<void**>(top) - 8;
    for (int i = 0; i < 6; ++i) frame[i] = nullptr;
    frame[6] = reinterpret_cast<void*>(entry);
    frame[7] = nullptr;
    context.sp = frame;
}

void switch_context(Context& from, Context& to) { emulator_switch(&from.sp, to.sp); }
#else
struct Context {
    ucontext_t context;
};

void start_context(Context& context, std::vector<char>& stack, void (*entry)()) {
    getcontext(&context.context);
    context.context.uc_stack.ss_sp = stack.data();
    context.context.uc_stack.ss_size = stack.size();
    context.context.uc_link = nullptr;
    makecontext(&context.context, entry, 0);
}

void switch_context(Context& from, Context& to) { swapcontext(&from.context, &to.context); }
#endif

constexpr size_t STACK_BYTES = 256 * 1024;
constexpr size_t WARP = 32;

enum class State { Runnable, AtBlockBarrier, AtWarpOperation, Finished };

// A warp-wide operation: every lane of the warp waits for the others, then it is done once
// for all of them.
enum class WarpOperation { Sync, Vote, Shuffle, Mma };

// What a lane brings to a warp-wide operation, and what it gets back.
struct Lane {
    WarpOperation operation;
    int vote;
    unsigned shuffled;
    unsigned lane_mask;
    unsigned a[4];
    unsigned b[2];
    float c[4];
    unsigned ballot;
};

struct Thread {
    Context context;
    std::vector<char> stack;
    EmulatedDim index;
    State state;
    Lane lane;
};

struct Block {
    Context scheduler;
    std::vector<Thread> threads;
    size_t current = 0;
    void (*body)(void*) = nullptr;
    void* data = nullptr;
};

// The block being run (grids run one at a time: `emulate_grid` holds `grid_lock`).
Block running_block;
std::mutex grid_lock;

Block& block() { return running_block; }

// A thread's coroutine: the body, then back to the scheduler for good.
void thread_main() {
    block().body(block().data);
    Thread& thread = block().threads[block().current];
    thread.state = State::Finished;
    switch_context(thread.context, block().scheduler);
}

// Suspends the current thread in `state` until the scheduler resumes it; returns its lane.
Lane& suspend(State state) {
    Thread& thread = block().threads[block().current];
    thread.state = state;
    switch_context(thread.context, block().scheduler);
    return block().threads[block().current].lane;
}

float half_to_float(unsigned bits) {
    const _Float16 h = __builtin_bit_cast(_Float16, (unsigned short)bits);
    return (float)h;
}

unsigned float_to_half(float value) { return __builtin_bit_cast(unsigned short, (_Float16)value); }

// A (16 × 16, row-major) and B (16 × 8, column-major) from the lanes' fragments as PTX lays
// them out (lane = 4 · group + thread in group), D = A · B + C, and each lane's part of D.
void warp_mma(Thread* lanes) {
    float a[16][16], b[16][8], c[16][8];
    for (size_t l = 0; l < WARP; ++l) {
        const Lane& lane = lanes[l].lane;
        const size_t group = l / 4, pair = 2 * (l % 4);
        for (size_t r = 0; r < 4; ++r) {
            const size_t row = group + 8 * (r & 1), col = pair + 8 * (r >> 1);
            a[row][col] = half_to_float(lane.a[r] & 0xffff);
            a[row][col + 1] = half_to_float(lane.a[r] >> 16);
        }
        for (size_t r = 0; r < 2; ++r) {
            b[pair + 8 * r][group] = half_to_float(lane.b[r] & 0xffff);
            b[pair + 8 * r + 1][group] = half_to_float(lane.b[r] >> 16);
        }
        for (size_t r = 0; r < 2; ++r) {
            c[group + 8 * r][pair] = lane.c[2 * r];
            c[group + 8 * r][pair + 1] = lane.c[2 * r + 1];
        }
    }
    for (size_t row = 0; row < 16; ++row)
        for (size_t col = 0; col < 8; ++col) {
            float sum = c[row][col];
            for (size_t k = 0; k < 16; ++k) sum += a[row][k] * b[k][col];
            c[row][col] = sum;
        }
    for (size_t l = 0; l < WARP; ++l) {
        Lane& lane = lanes[l].lane;
        const size_t group = l / 4, pair = 2 * (l % 4);
        for (size_t r = 0; r < 2; ++r) {
            lane.c[2 * r] = c[group + 8 * r][pair];
            lane.c[2 * r + 1] = c[group + 8 * r][pair + 1];
        }
    }
}

// Each lane gets the value of the lane whose index is its own xor its `lane_mask`.
void warp_shuffle_xor(Thread* lanes) {
    unsigned values[WARP];
    for (size_t l = 0; l < WARP; ++l) values[l] = lanes[l].lane.shuffled;
    for (size_t l = 0; l < WARP; ++l) {
        lanes[l].lane.shuffled = values[(l ^ lanes[l].lane.lane_mask) % WARP];
    }
}

// Does the operation the lanes of warp `w` wait at, when all of its live lanes do.
bool release_warp(size_t w) {
    const size_t first = WARP * w, end = std::min(first + WARP, block().threads.size());
    bool any = false;
    WarpOperation operation = WarpOperation::Sync;
    for (size_t i = first; i < end; ++i) {
        const Thread& t = block().threads[i];
        if (t.state == State::Finished) continue;
        if (t.state != State::AtWarpOperation) return false;
        if (any && t.lane.operation != operation) {
            std::fprintf(stderr, "warp %zu: lanes wait at different warp-wide operations\n", w);
            std::abort();
        }
        operation = t.lane.operation;
        any = true;
    }
    if (!any) return false;
    if (operation == WarpOperation::Mma || operation == WarpOperation::Shuffle) {
        for (size_t i = first; i < first + WARP; ++i) {
            if (i >= end || block().threads[i].state != State::AtWarpOperation) {
                std::fprintf(stderr, "warp %zu: this warp-wide operation needs all 32 lanes\n", w);
                std::abort();
            }
        }
        if (operation == WarpOperation::Mma) {
            warp_mma(&block().threads[first]);
        } else {
            warp_shuffle_xor(&block().threads[first]);
        }
    }
    unsigned ballot = 0;
    for (size_t i = first; i < end; ++i) {
        if (block().threads[i].state == State::AtWarpOperation && block().threads[i].lane.vote) {
            ballot |= 1u << (i - first);
        }
    }
    for (size_t i = first; i < end; ++i) {
        Thread& t = block().threads[i];
        if (t.state != State::AtWarpOperation) continue;
        t.lane.ballot = ballot;
        t.state = State::Runnable;
    }
    return true;
}

// Runs every runnable thread until it waits or finishes, then releases the barriers whose
// threads have all arrived. Returns false when nothing could run or be released.
bool step_block() {
    bool progress = false;
    for (size_t i = 0; i < block().threads.size(); ++i) {
        if (block().threads[i].state != State::Runnable) continue;
        block().current = i;
        threadIdx = block().threads[i].index;
        switch_context(block().scheduler, block().threads[i].context);
        progress = true;
    }
    for (size_t w = 0; w < (block().threads.size() + WARP - 1) / WARP; ++w) {
        progress |= release_warp(w);
    }
    bool all_at_barrier = true, any_at_barrier = false;
    for (const Thread& t : block().threads) {
        if (t.state == State::Finished) continue;
        if (t.state != State::AtBlockBarrier) all_at_barrier = false;
        any_at_barrier = true;
    }
    if (any_at_barrier && all_at_barrier) {
        for (Thread& t : block().threads) {
            if (t.state == State::AtBlockBarrier) t.state = State::Runnable;
        }
        progress = true;
    }
    return progress;
}

bool block_finished() {
    for (const Thread& t : block().threads) {
        if (t.state != State::Finished) return false;
    }
    return true;
}

// Waits with the rest of the warp at `operation` (the lane's inputs already in its slot).
Lane& warp_operation(WarpOperation operation) {
    block().threads[block().current].lane.operation = operation;
    return suspend(State::AtWarpOperation);
}

}  // namespace

void __syncthreads() { suspend(State::AtBlockBarrier); }

void __syncwarp(unsigned) { warp_operation(WarpOperation::Sync); }

unsigned __ballot_sync(unsigned mask, int predicate) {
    block().threads[block().current].lane.vote = predicate != 0;
    const Lane& lane = warp_operation(WarpOperation::Vote);
    return lane.ballot & mask;
}

float __shfl_xor_sync(unsigned, float value, int lane_mask) {
    Lane& lane = block().threads[block().current].lane;
    lane.shuffled = __float_as_uint(value);
    lane.lane_mask = (unsigned)lane_mask;
    return __uint_as_float(warp_operation(WarpOperation::Shuffle).shuffled);
}

void emulated_mma_16x8x16(float c[4], const unsigned a[4], unsigned b_lo, unsigned b_hi) {
    Lane& lane = block().threads[block().current].lane;
    std::memcpy(lane.a, a, sizeof lane.a);
    lane.b[0] = b_lo;
    lane.b[1] = b_hi;
    std::memcpy(lane.c, c, sizeof lane.c);
    const Lane& done = warp_operation(WarpOperation::Mma);
    std::memcpy(c, done.c, sizeof done.c);
}

float emulated_half_to_float(unsigned bits) { return half_to_float(bits & 0xffffu); }

unsigned emulated_pack_half2(float lo, float hi) {
    return float_to_half(lo) | (float_to_half(hi) << 16);
}

// Runs `body(data)` on every thread of a grid of `grid` blocks of `threads` threads (one grid
// at a time in the process: a grid on another OS thread waits).
// Returns 0, or 1 when a block deadlocked (threads waiting at barriers others never reach).
extern "C" int emulate_grid(const unsigned grid[3], const unsigned threads[3], void (*body)(void*),
                            void* data) {
    const std::lock_guard<std::mutex> one_grid_at_a_time(grid_lock);
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {threads[0], threads[1], threads[2]};
    const size_t count = (size_t)threads[0] * threads[1] * threads[2];
    block().threads.resize(count);
    block().body = body;
    block().data = data;
    for (auto& t : block().threads) t.stack.resize(STACK_BYTES);
    for (unsigned bz = 0; bz < grid[2]; ++bz)
        for (unsigned by = 0; by < grid[1]; ++by)
            for (unsigned bx = 0; bx < grid[0]; ++bx) {
                blockIdx = {bx, by, bz};
                for (size_t i = 0; i < count; ++i) {
                    Thread& t = block().threads[i];
                    t.index = {unsigned(i % threads[0]), unsigned(i / threads[0] % threads[1]),
                               unsigned(i / (threads[0] * threads[1]))};
                    t.state = State::Runnable;
                    t.lane = Lane{};
                    start_context(t.context, t.stack, thread_main);
                }
                while (!block_finished()) {
                    if (!step_block()) return 1;
                }
            }
    return 0;
}
