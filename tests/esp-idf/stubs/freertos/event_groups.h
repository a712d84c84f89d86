/* Stub of FreeRTOS event_groups.h (ESP-IDF): the calls used here. */
#ifndef MR_STUB_FREERTOS_EVENT_GROUPS_H
#define MR_STUB_FREERTOS_EVENT_GROUPS_H

#include "freertos/FreeRTOS.h"

struct EventGroupDef_t;
typedef struct EventGroupDef_t *EventGroupHandle_t;
typedef TickType_t EventBits_t;

EventGroupHandle_t xEventGroupCreate(void);
EventBits_t xEventGroupSetBits(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToSet);
EventBits_t xEventGroupWaitBits(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToWaitFor,
                                const BaseType_t xClearOnExit, const BaseType_t xWaitForAllBits,
                                TickType_t xTicksToWait);

#endif
