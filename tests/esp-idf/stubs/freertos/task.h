/* Stub of FreeRTOS task.h (ESP-IDF): the calls used here. */
#ifndef MR_STUB_FREERTOS_TASK_H
#define MR_STUB_FREERTOS_TASK_H

#include "freertos/FreeRTOS.h"

void vTaskDelay(const TickType_t xTicksToDelay);
TickType_t xTaskGetTickCount(void);

#endif
