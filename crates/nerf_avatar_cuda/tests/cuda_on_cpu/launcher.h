// Registers kernels with the stand-in driver (driver.cpp): `REGISTER_KERNEL(name)` after a
// kernel file makes `name` a function modules can return, launched with the driver's array
// of pointers to its arguments (`cuLaunchKernel`'s `kernelParams`).
#pragma once

#include <type_traits>
#include <utility>

void register_kernel(const char* name, void (*launcher)(void** params));

template <typename... Args, size_t... I>
void invoke_kernel(void (*kernel)(Args...), void** params, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<std::remove_reference_t<Args>>*>(params[I])...);
}

// Calls `kernel` with the arguments `params` points to, in order.
template <typename... Args>
void invoke_kernel(void (*kernel)(Args...), void** params) {
    invoke_kernel(kernel, params, std::index_sequence_for<Args...>{});
}

#define REGISTER_KERNEL(name)                                                      \
    static const bool registered_##name =                                          \
        (register_kernel(#name, [](void** params) { invoke_kernel(&name, params); }), true);
