#include <stdio.h>
#include "genet/genet.h"
#include "device/device.h"
int main(void)
{
    struct gn_device_info d;
    gn_device_query(&d);
    printf("%s\n", d.reason);
    return 0;
}
