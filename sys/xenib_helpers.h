/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for what bindgen cannot bind: static inline functions, macros
 * and module parameters. Each module defines the ones it uses in its own
 * helpers.c; this header is also bindgen's view of them.
 */
#ifndef XENIB_HELPERS_H
#define XENIB_HELPERS_H

#include <linux/types.h>

struct ib_device;

/* ib_back */
const char *xenib_back_param_dev(void);

#endif
