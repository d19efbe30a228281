/*
 * list: the one intrusive doubly-linked list of the project (as Redis keeps
 * one adlist and one dict for every module).
 *
 * A struct that goes on a list embeds a struct list_node (two pointers, no
 * allocation of its own); the list is a first and a last pointer, NULL-
 * terminated both ways, so a zeroed list (calloc) is an empty one and no
 * node points into the struct holding the list (it may be copied while
 * empty). list_entry() goes back from a node to the struct holding it.
 * Unlinking needs the list (it may move first or last) and leaves the node
 * with NULL pointers. Iterating while unlinking: take list_next() (or
 * list_prev()) of the node before unlinking it.
 *
 * Used for the least-recently-active orders (calls, trunk_health's peers,
 * pending OPTIONS by age) and the sets that must be walked to free them
 * (HEP connections).
 */
#ifndef SIPTAP_CORE_LIST_H
#define SIPTAP_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *prev, *next;
};

struct list {
    struct list_node *first, *last;
};

/* The struct of type `type` whose member `member` is at ptr (not NULL). */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The same, NULL for a NULL node (what list_first() and the others return
 * at an end). */
#define list_entry(node, type, member) ((type *)list_entry_at((node), offsetof(type, member)))

static inline void *list_entry_at(const struct list_node *n, size_t offset)
{
    return n ? (char *)n - offset : NULL;
}

static inline void list_init(struct list *l)
{
    l->first = l->last = NULL;
}

static inline bool list_empty(const struct list *l)
{
    return l->first == NULL;
}

static inline struct list_node *list_first(const struct list *l)
{
    return l->first;
}

static inline struct list_node *list_last(const struct list *l)
{
    return l->last;
}

/* The node after n (towards last), NULL at the end. */
static inline struct list_node *list_next(const struct list_node *n)
{
    return n->next;
}

/* The node before n (towards first), NULL at the start. */
static inline struct list_node *list_prev(const struct list_node *n)
{
    return n->prev;
}

static inline void list_push_front(struct list *l, struct list_node *n)
{
    n->prev = NULL;
    n->next = l->first;
    if (l->first)
        l->first->prev = n;
    else
        l->last = n;
    l->first = n;
}

static inline void list_push_back(struct list *l, struct list_node *n)
{
    n->next = NULL;
    n->prev = l->last;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

/* Takes n (on l) off l. */
static inline void list_unlink(struct list *l, struct list_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->prev = n->next = NULL;
}

/* n (on l) becomes l's first. */
static inline void list_move_front(struct list *l, struct list_node *n)
{
    if (l->first == n)
        return;
    list_unlink(l, n);
    list_push_front(l, n);
}

/* n (on l) becomes l's last. */
static inline void list_move_back(struct list *l, struct list_node *n)
{
    if (l->last == n)
        return;
    list_unlink(l, n);
    list_push_back(l, n);
}

#endif
