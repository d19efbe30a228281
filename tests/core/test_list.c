/* core/list.h: pushes at both ends, unlinking at the ends and in the
 * middle, moving to the front (the LRU touch), list_entry back to the
 * holding struct, and a zeroed list being an empty one; checked against
 * the expected order walked both ways. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/list.h"

struct item {
    int value;
    struct list_node link; /* not first: list_entry must subtract the offset */
};

/* The list's values first to last, checked against last to first. */
static size_t values_of(const struct list *l, int *out, size_t max)
{
    size_t n = 0;
    for (struct list_node *p = list_first(l); p && n < max; p = list_next(p))
        out[n++] = list_entry(p, struct item, link)->value;
    size_t back = n;
    for (struct list_node *p = list_last(l); p; p = list_prev(p)) {
        cr_assert_gt(back, 0, "walking back finds more nodes than forward");
        cr_assert_eq(list_entry(p, struct item, link)->value, out[--back]);
    }
    cr_assert_eq(back, 0, "walking back finds fewer nodes than forward");
    return n;
}

static void assert_values(const struct list *l, const int *want, size_t count)
{
    int got[16];
    size_t n = values_of(l, got, 16);
    cr_assert_eq(n, count, "%zu items, want %zu", n, count);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(got[i], want[i], "item %zu is %d, want %d", i, got[i], want[i]);
    cr_assert_eq(list_empty(l), count == 0);
}

Test(list, zeroed_is_empty)
{
    struct list l;
    memset(&l, 0, sizeof(l));
    cr_assert(list_empty(&l));
    cr_assert_null(list_first(&l));
    cr_assert_null(list_last(&l));
    cr_assert_null(list_entry(list_last(&l), struct item, link));
    list_init(&l);
    cr_assert(list_empty(&l));
}

Test(list, push_both_ends_and_unlink_anywhere)
{
    struct list l;
    list_init(&l);
    struct item it[5];
    for (int i = 0; i < 5; i++)
        it[i].value = i;
    list_push_back(&l, &it[2].link);
    list_push_front(&l, &it[1].link);
    list_push_back(&l, &it[3].link);
    list_push_front(&l, &it[0].link);
    list_push_back(&l, &it[4].link);
    assert_values(&l, (int[]){0, 1, 2, 3, 4}, 5);
    cr_assert_eq(container_of(list_first(&l), struct item, link), &it[0]);

    list_unlink(&l, &it[2].link); /* the middle */
    cr_assert_null(it[2].link.prev);
    cr_assert_null(it[2].link.next);
    assert_values(&l, (int[]){0, 1, 3, 4}, 4);
    list_unlink(&l, &it[0].link); /* the first */
    assert_values(&l, (int[]){1, 3, 4}, 3);
    list_unlink(&l, &it[4].link); /* the last */
    assert_values(&l, (int[]){1, 3}, 2);
    list_unlink(&l, &it[1].link);
    list_unlink(&l, &it[3].link);
    assert_values(&l, NULL, 0);
    list_push_front(&l, &it[2].link); /* reusable once empty */
    assert_values(&l, (int[]){2}, 1);
}

Test(list, move_front_keeps_least_recent_last)
{
    struct list l;
    list_init(&l);
    struct item it[4];
    for (int i = 0; i < 4; i++) {
        it[i].value = i;
        list_push_front(&l, &it[i].link);
    }
    assert_values(&l, (int[]){3, 2, 1, 0}, 4);
    list_move_front(&l, &it[3].link); /* already first */
    assert_values(&l, (int[]){3, 2, 1, 0}, 4);
    list_move_front(&l, &it[1].link);
    assert_values(&l, (int[]){1, 3, 2, 0}, 4);
    list_move_front(&l, &it[0].link); /* the last */
    assert_values(&l, (int[]){0, 1, 3, 2}, 4);
    cr_assert_eq(list_entry(list_last(&l), struct item, link), &it[2]);
}

Test(list, unlink_while_walking)
{
    struct list l;
    list_init(&l);
    struct item it[6];
    for (int i = 0; i < 6; i++) {
        it[i].value = i;
        list_push_back(&l, &it[i].link);
    }
    /* Drop the odd ones, taking the next node before unlinking. */
    for (struct list_node *p = list_first(&l), *next; p; p = next) {
        next = list_next(p);
        if (list_entry(p, struct item, link)->value % 2)
            list_unlink(&l, p);
    }
    assert_values(&l, (int[]){0, 2, 4}, 3);
}
