#include "tests/rules/signalling_fixture.h"
TestSuite(x, .init = setup, .fini = teardown);
Test(x, placeholder)
{
    cr_assert(1);
}
