// SPDX-License-Identifier: GPL-2.0
/*
 * ib_front's C helpers: wrappers for static inline functions and macros.
 */
#include <linux/module.h>
#include "xenib_helpers.h"
