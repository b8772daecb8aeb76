/* Intrusive doubly-linked lists and FIFO queues.
 *
 * A struct list_node lives inside the element; the list never allocates. An empty list is
 * a head whose prev and next point at itself. list_entry() turns a node back into its
 * element (container_of). Header-only; libc only. */
#ifndef CHORUS_BASE_LIST_H
#define CHORUS_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *prev;
    struct list_node *next;
};

#define list_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

static inline void list_init(struct list_node *head) { head->prev = head->next = head; }
static inline bool list_empty(const struct list_node *head) { return head->next == head; }
/* True when node is not on any list (it was initialised or removed). */
static inline bool list_unlinked(const struct list_node *node) { return node->next == node; }

static inline void list_insert_between(struct list_node *n, struct list_node *prev,
                                       struct list_node *next)
{
    n->prev = prev;
    n->next = next;
    prev->next = n;
    next->prev = n;
}

static inline void list_push_back(struct list_node *head, struct list_node *n)
{
    list_insert_between(n, head->prev, head);
}

static inline void list_push_front(struct list_node *head, struct list_node *n)
{
    list_insert_between(n, head, head->next);
}

static inline void list_remove(struct list_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

static inline struct list_node *list_first(const struct list_node *head)
{
    return list_empty(head) ? NULL : head->next;
}

static inline struct list_node *list_last(const struct list_node *head)
{
    return list_empty(head) ? NULL : head->prev;
}

static inline struct list_node *list_pop_front(struct list_node *head)
{
    struct list_node *n = list_first(head);
    if (n != NULL) {
        list_remove(n);
    }
    return n;
}

static inline size_t list_length(const struct list_node *head)
{
    size_t n = 0;
    for (const struct list_node *p = head->next; p != head; p = p->next) {
        n++;
    }
    return n;
}

/* Iterates; safe against removing `it` inside the body. */
#define list_for_each_safe(it, tmp, head) \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

#endif
