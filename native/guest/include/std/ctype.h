/* <ctype.h> for programs built with `sf guest build`: the SDK's own sfguest/ctype.h under the name a C
 * programmer writes (include/std is on the include path only for user programs). */
#ifndef SFGUEST_STD_CTYPE_H
#define SFGUEST_STD_CTYPE_H
#include <sfguest/ctype.h>
#endif
