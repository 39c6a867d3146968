/* The harness must be able to fail: a deliberately wrong comparison is
 * checked to be reported as a failure (then the counters are restored). */
#include "testing.h"

#include <string.h>

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    if (llv_test_case("wrong values are caught")) {
        float got[3] = {1.0f, 2.0f, 3.5f}, ref[3] = {1.0f, 2.0f, 3.0f};
        llv_cmp c = llv_compare_f32(got, ref, 3, 1e-4, 1e-5);
        CHECK(!c.ok);
        CHECK_EQ_I(c.worst, 2);
        CHECK_CLOSE(c.max_abs, 0.5, 1e-9);
        int before = llv_t.failed;
        CHECK_EQ_I(1, 2); /* must count as a failure */
        int counted = llv_t.failed - before;
        llv_t.failed = before;
        CHECK_EQ_I(counted, 1);
    }
    if (llv_test_case("nan must match nan")) {
        float nan = 0.0f / 0.0f;
        float got[2] = {nan, 1.0f}, ref[2] = {1.0f, 1.0f};
        CHECK(!llv_compare_f32(got, ref, 2, 1, 1).ok);
        float got2[2] = {nan, 1.0f}, ref2[2] = {nan, 1.0f};
        CHECK(llv_compare_f32(got2, ref2, 2, 0, 0).ok);
    }
    if (llv_test_case("status names and types")) {
        CHECK(strcmp(llv_status_name(LLV_ERR_FORMAT), "LLV_ERR_FORMAT") == 0);
        llv_type t;
        llv_error e;
        CHECK_OK(llv_type_from_name("Q8_0", &t, &e), &e);
        CHECK_EQ_I(t, LLV_TYPE_Q8_0);
        CHECK_STATUS(llv_type_from_name("iq4_xs", &t, &e), LLV_ERR_INVALID_ARGUMENT, &e);
    }
    return llv_test_finish();
}
