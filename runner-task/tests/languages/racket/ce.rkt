#lang racket/base
(displayln (undefined-thing 1))
