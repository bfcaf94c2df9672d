#lang racket/base
(let loop ([keep '()])
  (loop (cons (make-bytes (expt 2 20) 1) keep)))
