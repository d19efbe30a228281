#include <criterion/criterion.h>
#include "rtp/rtp.h"
Test(rtp, placeholder) { cr_assert(1); }
