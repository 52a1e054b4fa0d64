// Runs a kernel's grid on the CPU (cuda_on_cpu.h): blocks one after the other, each block's
// threads as coroutines (ucontext) switched at barriers, so `__syncthreads` and warp votes
// have their CUDA meaning. `emulate_grid` calls `body(data)` on every thread with the
// built-in indices set; the body calls the kernel.
#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cuda_on_cpu.h"

thread_local EmulatedDim threadIdx, blockIdx, blockDim, gridDim;

namespace {

constexpr size_t STACK_BYTES = 256 * 1024;

enum class State { Runnable, AtBlockBarrier, AtWarpVote, Finished };

struct Thread {
    ucontext_t context;
    std::vector<char> stack;
    EmulatedDim index;
    State state;
    int vote;
};

struct Block {
    ucontext_t scheduler;
    std::vector<Thread> threads;
    std::vector<unsigned> votes;  // per warp, the ballot of its last vote
    size_t current = 0;
    void (*body)(void*) = nullptr;
    void* data = nullptr;
};

thread_local Block block;

void thread_main() {
    block.body(block.data);
    block.threads[block.current].state = State::Finished;
    // Returning resumes `uc_link`, the scheduler.
}

// Suspends the current thread in `state` and returns to the scheduler.
void suspend(State state) {
    Thread& thread = block.threads[block.current];
    thread.state = state;
    swapcontext(&thread.context, &block.scheduler);
    threadIdx = block.threads[block.current].index;
}

// Runs every runnable thread until it blocks or finishes; then releases the barriers whose
// threads have all arrived. Returns false when nothing could run or be released.
bool step_block() {
    bool progress = false;
    for (size_t i = 0; i < block.threads.size(); ++i) {
        if (block.threads[i].state != State::Runnable) continue;
        block.current = i;
        threadIdx = block.threads[i].index;
        swapcontext(&block.scheduler, &block.threads[i].context);
        progress = true;
    }
    const size_t warps = (block.threads.size() + 31) / 32;
    for (size_t w = 0; w < warps; ++w) {
        bool all = true, any = false;
        unsigned ballot = 0;
        for (size_t i = 32 * w; i < block.threads.size() && i < 32 * (w + 1); ++i) {
            const Thread& t = block.threads[i];
            if (t.state == State::Finished) continue;
            if (t.state != State::AtWarpVote) all = false;
            any = true;
            if (t.vote) ballot |= 1u << (i % 32);
        }
        if (any && all) {
            block.votes[w] = ballot;
            for (size_t i = 32 * w; i < block.threads.size() && i < 32 * (w + 1); ++i) {
                if (block.threads[i].state == State::AtWarpVote) block.threads[i].state = State::Runnable;
            }
            progress = true;
        }
    }
    bool all_at_barrier = true, any_at_barrier = false;
    for (const Thread& t : block.threads) {
        if (t.state == State::Finished) continue;
        if (t.state != State::AtBlockBarrier) all_at_barrier = false;
        any_at_barrier = true;
    }
    if (any_at_barrier && all_at_barrier) {
        for (Thread& t : block.threads) {
            if (t.state == State::AtBlockBarrier) t.state = State::Runnable;
        }
        progress = true;
    }
    return progress;
}

bool block_finished() {
    for (const Thread& t : block.threads) {
        if (t.state != State::Finished) return false;
    }
    return true;
}

}  // namespace

void __syncthreads() { suspend(State::AtBlockBarrier); }

unsigned __ballot_sync(unsigned mask, int predicate) {
    block.threads[block.current].vote = predicate != 0;
    suspend(State::AtWarpVote);
    return block.votes[block.current / 32] & mask;
}

// Runs `body(data)` on every thread of a grid of `grid` blocks of `threads` threads.
// Returns 0, or 1 when a block deadlocked (threads waiting at barriers others never reach).
extern "C" int emulate_grid(const unsigned grid[3], const unsigned threads[3], void (*body)(void*),
                            void* data) {
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {threads[0], threads[1], threads[2]};
    const size_t count = (size_t)threads[0] * threads[1] * threads[2];
    block.threads.resize(count);
    block.votes.assign((count + 31) / 32, 0);
    block.body = body;
    block.data = data;
    for (auto& t : block.threads) t.stack.resize(STACK_BYTES);
    for (unsigned bz = 0; bz < grid[2]; ++bz)
        for (unsigned by = 0; by < grid[1]; ++by)
            for (unsigned bx = 0; bx < grid[0]; ++bx) {
                blockIdx = {bx, by, bz};
                for (size_t i = 0; i < count; ++i) {
                    Thread& t = block.threads[i];
                    t.index = {unsigned(i % threads[0]), unsigned(i / threads[0] % threads[1]),
                               unsigned(i / (threads[0] * threads[1]))};
                    t.state = State::Runnable;
                    t.vote = 0;
                    getcontext(&t.context);
                    t.context.uc_stack.ss_sp = t.stack.data();
                    t.context.uc_stack.ss_size = t.stack.size();
                    t.context.uc_link = &block.scheduler;
                    makecontext(&t.context, thread_main, 0);
                }
                while (!block_finished()) {
                    if (!step_block()) return 1;
                }
            }
    return 0;
}
