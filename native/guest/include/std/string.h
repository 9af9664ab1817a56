/* <string.h> for programs built with `sf guest build`: the SDK's own sfguest/string.h under the name a C
 * programmer writes (include/std is on the include path only for user programs). */
#ifndef SFGUEST_STD_STRING_H
#define SFGUEST_STD_STRING_H
#include <sfguest/string.h>
#endif
