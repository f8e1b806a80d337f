/* SPDX-License-Identifier: GPL-2.0 */
/* Circular doubly-linked lists. */
#ifndef __XEN_LIST_H__
#define __XEN_LIST_H__

#include <xen/kernel.h>

struct list_head {
    struct list_head *next, *prev;
};

#define LIST_HEAD_INIT(name)    { &(name), &(name) }
#define LIST_HEAD(name)         struct list_head name = LIST_HEAD_INIT(name)

static inline void INIT_LIST_HEAD(struct list_head *l)
{
    l->next = l;
    l->prev = l;
}

static inline void list_insert__(struct list_head *n, struct list_head *prev,
                                 struct list_head *next)
{
    next->prev = n;
    n->next = next;
    n->prev = prev;
    prev->next = n;
}

static inline void list_add(struct list_head *n, struct list_head *head)
{
    list_insert__(n, head, head->next);
}

static inline void list_add_tail(struct list_head *n, struct list_head *head)
{
    list_insert__(n, head->prev, head);
}

static inline void list_del_init(struct list_head *e)
{
    e->next->prev = e->prev;
    e->prev->next = e->next;
    INIT_LIST_HEAD(e);
}

static inline void list_del(struct list_head *e)
{
    e->next->prev = e->prev;
    e->prev->next = e->next;
    e->next = e->prev = NULL;
}

static inline bool list_empty(const struct list_head *head)
{
    return head->next == head;
}

#define list_entry(ptr, type, member)   container_of(ptr, type, member)
#define list_first_entry(head, type, member) \
    list_entry((head)->next, type, member)

#define list_last_entry(head, type, member) \
    list_entry((head)->prev, type, member)

#define list_for_each_entry(pos, head, member)                          \
    for ( pos = list_entry((head)->next, __typeof__(*pos), member);     \
          &pos->member != (head);                                       \
          pos = list_entry(pos->member.next, __typeof__(*pos), member) )

#endif /* __XEN_LIST_H__ */
