/* Intrusive list operations keep the ring consistent. */
#include "base/list.h"
#include "harness.h"

struct elem {
    int v;
    struct list_node node;
};

TEST(list_fifo_order_and_removal)
{
    struct list_node head;
    list_init(&head);
    CHECK(list_empty(&head));
    struct elem e[4];
    for (int i = 0; i < 4; i++) {
        e[i].v = i;
        list_push_back(&head, &e[i].node);
    }
    CHECK_EQ(list_length(&head), 4);
    list_remove(&e[2].node);
    CHECK(list_unlinked(&e[2].node));
    list_push_front(&head, &e[2].node);
    int expect[] = {2, 0, 1, 3};
    for (int i = 0; i < 4; i++) {
        struct list_node *n = list_pop_front(&head);
        CHECK_EQ(list_entry(n, struct elem, node)->v, expect[i]);
    }
    CHECK(list_pop_front(&head) == NULL);
}
