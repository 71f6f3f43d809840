/*
 * The device query of a build without CUDA: nothing is usable, and the
 * reason says the backend was not compiled in.
 */
#include <stdio.h>
#include <string.h>

#include "device.h"

void gn_device_query(struct gn_device_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->reason, sizeof info->reason,
             "this build has no CUDA backend (configured with -Dcuda=disabled or without nvcc)");
}
