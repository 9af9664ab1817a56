/* <stdio.h> for programs built with `sf guest build`: the SDK's own sfguest/stdio.h under the name a C
 * programmer writes (include/std is on the include path only for user programs). */
#ifndef SFGUEST_STD_STDIO_H
#define SFGUEST_STD_STDIO_H
#include <sfguest/stdio.h>
#endif
