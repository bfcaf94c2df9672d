(defun f (x)
  (+ x (undefined-function-call x))
(f 1
