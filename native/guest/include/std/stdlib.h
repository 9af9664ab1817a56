/* <stdlib.h> for programs built with `sf guest build`: the SDK's own sfguest/stdlib.h under the name a C
 * programmer writes (include/std is on the include path only for user programs). */
#ifndef SFGUEST_STD_STDLIB_H
#define SFGUEST_STD_STDLIB_H
#include <sfguest/stdlib.h>
#endif
