(defvar *keep* nil)
(loop (push (make-array (ash 1 20) :element-type '(unsigned-byte 8) :initial-element 1) *keep*))
